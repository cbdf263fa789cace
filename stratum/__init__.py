from .api.version import VERSION
from .celery import app as celery_app

__version__ = VERSION
__all__ = ("celery_app",)
