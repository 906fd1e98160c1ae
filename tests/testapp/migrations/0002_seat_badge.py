from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("testapp", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="Badge",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("number", models.CharField(blank=True, max_length=16, null=True, unique=True)),
                ("holder", models.CharField(max_length=32)),
            ],
        ),
        migrations.CreateModel(
            name="Seat",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("code", models.CharField(max_length=12, unique=True)),
                ("locker", models.PositiveIntegerField(blank=True, null=True, unique=True)),
                ("room", models.CharField(max_length=12)),
                ("desk", models.PositiveIntegerField()),
                ("holder", models.CharField(blank=True, max_length=32)),
            ],
            options={
                "ordering": ["code"],
                "constraints": [
                    models.UniqueConstraint(fields=("room", "desk"), name="testapp_seat_room_desk")
                ],
            },
        ),
    ]
