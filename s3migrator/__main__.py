from s3migrator.cli import main

raise SystemExit(main())
