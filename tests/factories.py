"""Factory base classes and the registry of every model factory (used by the isolation walker).

Each app keeps its factories in `tests/<app>/factories.py`. A factory for a tenant-owned model
derives from `TenantOwnedFactory` and passes `tenant` down to its SubFactories.
"""
from __future__ import annotations

import importlib
import pkgutil

import factory
from factory.django import DjangoModelFactory


class TenantOwnedFactory(DjangoModelFactory):
    class Meta:
        abstract = True

    tenant = factory.SubFactory("tests.accounts.factories.TenantFactory")

    @classmethod
    def _get_manager(cls, model_class):
        # Tests build rows for several tenants at once: the explicit, greppable escape hatch.
        return model_class.objects.unscoped()


def all_factories() -> dict[type, type[DjangoModelFactory]]:
    """model class -> its factory, from every tests/<app>/factories.py."""
    import tests

    registry: dict[type, type[DjangoModelFactory]] = {}
    for module_info in pkgutil.iter_modules(tests.__path__):
        if not module_info.ispkg:
            continue
        try:
            module = importlib.import_module(f"tests.{module_info.name}.factories")
        except ModuleNotFoundError as exc:
            if exc.name == f"tests.{module_info.name}.factories":
                continue
            raise
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, DjangoModelFactory) and value._meta.model is not None
                    and not value._meta.abstract):
                registry.setdefault(value._meta.model, value)
    return registry
