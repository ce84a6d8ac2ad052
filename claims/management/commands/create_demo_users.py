from typing import Any

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand

from common.access import ADJUSTERS_GROUP

DEMO_USERS = [
    ("customer", "customer-demo-pass", "customer"),
    ("adjuster", "adjuster-demo-pass", "adjuster"),
    ("admin", "admin-demo-pass", "admin"),
]


class Command(BaseCommand):
    help = "Create the demo customer, adjuster and admin (local use only) and print them."

    def handle(self, *args: Any, **options: Any) -> None:
        adjusters, _ = Group.objects.get_or_create(name=ADJUSTERS_GROUP)
        for username, password, role in DEMO_USERS:
            user, created = User.objects.get_or_create(username=username)
            if created:
                user.set_password(password)
                user.is_superuser = user.is_staff = role == "admin"
                user.save()
                if role == "adjuster":
                    user.groups.add(adjusters)
            self.stdout.write(
                f"  {role:9} {username} / {password}" + ("" if created else " (existed)")
            )
