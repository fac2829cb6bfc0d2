"""What AWS runs the deployables on: the CloudFormation stack, ``template.yaml``.

Installed as ``s3migrator.infra`` (see pyproject.toml), so an installed s3migrator deploys the
stack without its source tree.
"""
