"""Membership rows get UUID ids like every tenant row (bigint ids read as '1', '2' in id scans).

The tables hold derived data only (segment refreshes and audience syncs rebuild them), so they are recreated.
"""
import uuid

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0002_notification'),
        ('cdp', '0001_initial'),
    ]

    operations = [
        migrations.DeleteModel(name='AudienceMember'),
        migrations.DeleteModel(name='SegmentMembership'),
        migrations.CreateModel(
            name='AudienceMember',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('synced_at', models.DateTimeField()),
                ('audience', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='members', to='cdp.audience')),
                ('tenant', models.ForeignKey(editable=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.tenant')),
                ('profile', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='cdp.profile')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('audience', 'profile'), name='cdp_audience_member_unique')],
            },
        ),
        migrations.CreateModel(
            name='SegmentMembership',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('added_at', models.DateTimeField()),
                ('removed_at', models.DateTimeField(blank=True, null=True)),
                ('profile', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='segment_memberships', to='cdp.profile')),
                ('segment', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='memberships', to='cdp.segment')),
                ('tenant', models.ForeignKey(editable=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.tenant')),
            ],
            options={
                'indexes': [models.Index(fields=['segment', 'removed_at'], name='cdp_membership_active')],
                'constraints': [models.UniqueConstraint(fields=('segment', 'profile'), name='cdp_membership_unique')],
            },
        ),
    ]
