from enum import StrEnum

from tortoise import fields, models


class Role(StrEnum):
    ADMIN = 'admin'
    MEMBER = 'member'


class User(models.Model):
    id = fields.IntField(primary_key=True)
    email = fields.CharField(max_length=254, unique=True)
    name = fields.CharField(max_length=100, default='')
    password_hash = fields.CharField(max_length=255)
    role = fields.CharEnumField(Role, max_length=16, default=Role.MEMBER)
    is_active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = 'users'

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


class ApiKey(models.Model):
    # A Bearer token: a named key made on the settings page, or a login token from /api/v1/auth/token.
    #
    # Only the SHA-256 of the token is stored; `prefix` is what the UI shows to tell keys apart.

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        'models.User', related_name='api_keys', on_delete=fields.CASCADE)
    name = fields.CharField(max_length=100)
    kind = fields.CharField(max_length=16, default='key')  # 'key' (named, no expiry) or 'login'
    token_hash = fields.CharField(max_length=64, unique=True)
    prefix = fields.CharField(max_length=16)
    expires_at = fields.DatetimeField(null=True)
    last_used_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = 'api_keys'


class UsedSignature(models.Model):
    # A report signature already accepted: a replay of it within its freshness window is refused.
    # Rows older than the window are pruned; the SHA-256 of the signature is kept, not the signature.

    signature_hash = fields.CharField(max_length=64, primary_key=True)
    expires_at = fields.FloatField()  # epoch seconds after which the timestamp check alone refuses it

    class Meta:
        table = 'used_signatures'
        indexes = (('expires_at',),)
