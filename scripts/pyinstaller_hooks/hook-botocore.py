"""Ours over pyinstaller-hooks-contrib's, which bundles botocore's models of every AWS service (18 MB): Trainboard
talks to S3 alone (services/stores/s3.py), and boto3's credential chain may ask STS and SSO."""

from PyInstaller.utils.hooks import collect_data_files

SERVICES = {'s3', 'sts', 'sso', 'sso-oidc'}
hiddenimports = ['html.parser']


def _kept(destination: str) -> bool:
    parts = destination.split('/')  # botocore/data/<service>/<version>, or botocore/data itself for shared files
    return parts[:2] != ['botocore', 'data'] or len(parts) == 2 or parts[2] in SERVICES


datas = [(source, destination) for source, destination in collect_data_files('botocore') if _kept(destination)]
