from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("course", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="student",
            name="github_id",
            field=models.BigIntegerField(
                blank=True,
                help_text="Survives a rename of the account.",
                null=True,
                verbose_name="GitHub account id",
            ),
        ),
        migrations.AddField(
            model_name="student",
            name="github_login",
            field=models.CharField(
                blank=True,
                help_text="The account's current login.",
                max_length=100,
                verbose_name="GitHub login",
            ),
        ),
        migrations.AddField(
            model_name="student",
            name="github_account",
            field=models.CharField(blank=True, max_length=300, verbose_name="GitHub account check"),
        ),
        migrations.AddField(
            model_name="student",
            name="github_invite",
            field=models.CharField(blank=True, max_length=300, verbose_name="organization invite"),
        ),
        migrations.AddField(
            model_name="student",
            name="github_joined",
            field=models.BooleanField(
                default=False,
                help_text="Accepted the invitation.",
                verbose_name="joined the organization",
            ),
        ),
        migrations.AddField(
            model_name="student",
            name="github_repo",
            field=models.CharField(blank=True, max_length=300, verbose_name="repository created"),
        ),
        migrations.AddField(
            model_name="student",
            name="github_repo_name",
            field=models.CharField(blank=True, max_length=100, verbose_name="repository"),
        ),
        migrations.AddField(
            model_name="student",
            name="github_team",
            field=models.CharField(
                blank=True,
                help_text="The slug of the group's team.",
                max_length=300,
                verbose_name="GitHub team",
            ),
        ),
        migrations.AddField(
            model_name="student",
            name="github_removed",
            field=models.CharField(blank=True, max_length=300, verbose_name="access removed"),
        ),
        migrations.AddField(
            model_name="student",
            name="submissions",
            field=models.JSONField(
                blank=True, default=dict, help_text="Tag -> the commit tagged, or 'no commit'."
            ),
        ),
    ]
