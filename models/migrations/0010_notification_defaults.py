from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('models', '0009_artifacts')]

    initial = False

    # a channel left as None follows the default of how an event concerns the person (launcher, owner, member), so
    # that a choice stored for one channel does not freeze the other
    operations = [
        ops.AlterField(
            model_name='NotificationPreference',
            name='in_app',
            field=fields.BooleanField(null=True, default=None),
        ),
        ops.AlterField(
            model_name='NotificationPreference',
            name='email',
            field=fields.BooleanField(null=True, default=None),
        ),
    ]
