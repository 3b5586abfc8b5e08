"""The scanner walks imports, records providers and resolves exports, running no user code."""

from __future__ import annotations

import pytest

from framework.di import Module, provide
from framework.di.scanner import scan
from framework.errors import CircularDependencyError, ConfigurationError


class Repo:
    pass


class Service:
    def __init__(self, repo: Repo) -> None:
        self.repo = repo


class DataModule(Module):
    providers = [Repo]
    exports = [Repo]


class TestWalk:
    def test_modules_are_listed_imports_first_and_once(self) -> None:
        """A module imported twice (diamond) is one node, after everything it imports."""

        class A(Module):
            imports = [DataModule]

        class B(Module):
            imports = [DataModule]

        class Root(Module):
            imports = [A, B]

        graph = scan(Root)
        names = [m.name for m in graph.modules]
        assert names == ["DataModule", "A", "B", "Root"]
        assert graph.root.module is Root

    def test_import_that_is_not_a_module(self) -> None:
        """A non-module in imports is named, with the usual cause suggested."""

        class Root(Module):
            imports = [Repo]

        with pytest.raises(ConfigurationError, match=r"Root\.imports holds .*Repo.* not a Module subclass"):
            scan(Root)

    def test_import_cycle_is_printed_as_a_path(self) -> None:
        """Modules importing each other are reported as A -> B -> A."""

        class A(Module):
            pass

        class B(Module):
            imports = [A]

        A.imports = [B]

        class Root(Module):
            imports = [A]

        with pytest.raises(CircularDependencyError, match="A -> B -> A"):
            scan(Root)

    def test_lists_must_be_lists(self) -> None:
        """A single class instead of a list is caught with the attribute's name."""

        class Root(Module):
            providers = Repo  # type: ignore[assignment]

        with pytest.raises(ConfigurationError, match=r"Root\.providers must be a list"):
            scan(Root)


class TestProviders:
    def test_duplicate_token_in_one_module(self) -> None:
        """Two providers for one token in one module are refused."""

        class Root(Module):
            providers = [Repo, provide(Repo, use_value=Repo())]

        with pytest.raises(ConfigurationError, match="declares Repo twice"):
            scan(Root)

    def test_same_class_in_providers_and_processors_is_one_binding(self) -> None:
        """Listing a class in providers and processors is harmless."""

        class Root(Module):
            providers = [Repo]
            processors = [Repo]

        assert len(list(scan(Root).bindings())) == 1

    def test_values_must_be_wrapped(self) -> None:
        """A bare value in providers says how to wrap it."""

        class Root(Module):
            providers = [42]

        with pytest.raises(ConfigurationError, match="use_value"):
            scan(Root)


class TestExports:
    def test_visibility_through_exports(self) -> None:
        """An importer sees exported providers only."""

        class Hidden:
            pass

        class Lib(Module):
            providers = [Repo, Hidden]
            exports = [Repo]

        class Root(Module):
            imports = [Lib]

        graph = scan(Root)
        assert graph.visible(graph.root, Repo) is not None
        assert graph.visible(graph.root, Hidden) is None

    def test_reexport_a_module(self) -> None:
        """Exporting an imported module passes its exports on."""

        class Facade(Module):
            imports = [DataModule]
            exports = [DataModule]

        class Root(Module):
            imports = [Facade]

        graph = scan(Root)
        binding = graph.visible(graph.root, Repo)
        assert binding is not None and binding.module.module is DataModule

    def test_reexport_an_imported_token(self) -> None:
        """Exporting a token imported from another module passes that provider on."""

        class Facade(Module):
            imports = [DataModule]
            exports = [Repo]

        class Root(Module):
            imports = [Facade]

        graph = scan(Root)
        assert graph.visible(graph.root, Repo) is not None

    def test_export_of_unknown_token(self) -> None:
        """Exporting what a module neither provides nor imports is an error naming both."""

        class Root(Module):
            exports = [Repo]

        with pytest.raises(
            ConfigurationError, match="Root exports Repo, which it neither provides nor imports"
        ):
            scan(Root)

    def test_export_of_module_not_imported(self) -> None:
        """Re-exporting a module requires importing it."""

        class Root(Module):
            exports = [DataModule]

        with pytest.raises(ConfigurationError, match="without importing it"):
            scan(Root)

    def test_global_module_exports_are_visible_everywhere(self) -> None:
        """A global module's exports need no import in the module that uses them."""

        class Globals(Module):
            is_global = True
            providers = [Repo]
            exports = [Repo]

        class Feature(Module):
            providers = [Service]

        class Root(Module):
            imports = [Globals, Feature]

        graph = scan(Root)
        feature = graph.node_of(Feature)
        assert feature is not None
        assert graph.visible(feature, Repo) is not None


class TestOverrides:
    def test_override_replaces_the_spec(self) -> None:
        """An override keeps the token and module, and swaps how the instance is made."""
        fake = Repo()

        class Root(Module):
            providers = [Repo]

        graph = scan(Root, {Repo: provide(Repo, use_value=fake)})
        (binding,) = graph.bindings()
        assert binding.spec.kind == "value" and binding.spec.target is fake

    def test_override_of_unknown_token(self) -> None:
        """Overriding a token nobody provides is almost always a typo: refused."""

        class Root(Module):
            pass

        with pytest.raises(ConfigurationError, match="override for Repo, which no module"):
            scan(Root, {Repo: provide(Repo, use_value=Repo())})
