"""The Celery application. Tasks are autodiscovered from every installed app's tasks.py.

Without a broker (no REDIS_URL / CELERY_BROKER_URL) settings turn on eager mode: tasks run
in-process, and `celery beat` still fires periodic jobs, executing them inside the beat process.
"""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stratum.settings")

app = Celery("stratum")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
