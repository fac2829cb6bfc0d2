"""The copier: drains the work queue, copying objects server-side and counting each batch once."""
