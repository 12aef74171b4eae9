"""Cheaper botocore clients: what every client copies of its session's event emitter, shared.

Every botocore client starts with a copy of its session's event emitter, and botocore copies
the whole handler trie (~140 handlers in ~400 nodes) for each: at 2,000 clients (120 accounts x
16 regions) that copy was a third of a local run's CPU. Each copy also starts with an empty
cache of event-name aliases (rebuilt by every client's first calls, ~10% of that run's CPU) and
checks each handler it registers with `inspect`. `share_handlers(session)` gives the session's
emitter:
- a trie whose copies share their nodes and copy only the path a change touches (nodes are
  never changed in place), so a client's copy costs O(1) and its own handlers (its request
  signer, its retry handler) still go into its copy alone: no client sees another's signer;
- one alias cache for all its copies (the aliases are the same, so are the answers);
- the handler check remembered per function.
If botocore's internals are not as expected, the session is left as it is (slower, never wrong).
"""

from __future__ import annotations

import copy
import threading
import weakref
from typing import Any

import botocore.hooks
from botocore.hooks import NodeList

_hooks: Any = botocore.hooks  # private names, absent from the type stubs
_PrefixTrie: Any = _hooks._PrefixTrie
_EventAliaser: Any = _hooks.EventAliaser  # typed in the stubs without their private state
_HierarchicalEmitter: Any = _hooks.HierarchicalEmitter
_MIDDLE: int = _hooks._MIDDLE
Node = dict[str, Any]


class SharedPrefixTrie(_PrefixTrie):  # type: ignore[misc]
    """botocore's handler trie, persistent: copies share nodes, changes copy their path.
    Each trie's changes take its own lock (two threads registering on one session's emitter
    would otherwise each rebuild the path from the same root, and one change would be lost);
    reads and copies take the root as it is, whole, without it."""

    _root: Node

    def __init__(self) -> None:
        super().__init__()
        self._writing = threading.Lock()

    def __copy__(self) -> SharedPrefixTrie:
        copied = self.__class__.__new__(self.__class__)
        copied.__dict__ = dict(self.__dict__)
        copied._writing = threading.Lock()
        return copied

    def append_item(self, key: str, value: Any, section: int = _MIDDLE) -> None:
        """As botocore's: `value` last in `section` of `key`'s node (made if missing)."""
        parts = key.split(".")

        def added(node: Node, depth: int) -> Node:
            node = dict(node)
            if depth == len(parts):
                values = _copied(node["values"])
                values[section].append(value)
                node["values"] = values
                return node
            part = parts[depth]
            children = dict(node["children"])
            child = children.get(part) or {"chunk": part, "values": None, "children": {}}
            children[part] = added(child, depth + 1)
            node["children"] = children
            return node

        with self._writing:
            self._root = added(self._root, 0)

    def remove_item(self, key: str, value: Any) -> None:
        """As botocore's: `value` out of `key`'s node; a key not in the trie is a ValueError;
        a node without children that never had values is dropped (emptied values keep it)."""
        parts = key.split(".")

        def removed(node: Node, depth: int) -> Node:
            part = parts[depth]
            child = node["children"].get(part)
            if child is None:
                raise ValueError(f"key is not in trie: {key}")
            if depth + 1 < len(parts):
                child = removed(child, depth + 1)
            elif child["values"] is not None:
                child = dict(child)
                values = _copied(child["values"])
                for section in values:
                    if value in section:
                        section.remove(value)
                        break
                child["values"] = values
            children = dict(node["children"])
            if not child["children"] and not child["values"]:
                del children[part]
            else:
                children[part] = child
            return {**node, "children": children}

        with self._writing:
            self._root = removed(self._root, 0)


class SharedEventAliaser(_EventAliaser):  # type: ignore[misc]
    """botocore's aliasing emitter whose copies share its (deterministic) alias cache."""

    _alias_name_cache: dict[str, str]

    def __copy__(self) -> SharedEventAliaser:
        copied = self.__class__(copy.copy(self._emitter), copy.copy(self._event_aliases))
        copied._alias_name_cache = self._alias_name_cache
        return copied


# Handler functions already checked to take **kwargs; weak, so a handler made per client (a
# closure, a retry handler's object) goes with its client.
_TAKES_KWARGS: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


class SharedHierarchicalEmitter(_HierarchicalEmitter):  # type: ignore[misc]
    """botocore's emitter, checking each handler function's signature once per process."""

    def _verify_accept_kwargs(self, func: Any) -> Any:
        target = getattr(func, "__func__", func)  # a bound method's function: shared by all
        try:
            if _TAKES_KWARGS.get(target):
                return None
        except TypeError:  # unhashable or not weakly referable: checked every time, as before
            return super()._verify_accept_kwargs(func)
        verdict = super()._verify_accept_kwargs(func)  # raises for a handler without **kwargs
        _TAKES_KWARGS[target] = True
        return verdict


def _copied(values: NodeList | None) -> NodeList:
    if values is None:
        return NodeList([], [], [])
    return NodeList(list(values.first), list(values.middle), list(values.last))


def share_handlers(session: Any) -> bool:
    """Give a boto3 (or botocore) session's emitter the shared trie, once; True when it has it.
    Call before clients are made from several threads (it replaces the trie, not a node)."""
    core: Any = getattr(session, "_session", session)
    emitter: Any = getattr(core, "get_component", lambda name: None)("event_emitter")
    hierarchical: Any = getattr(emitter, "_emitter", emitter)
    trie: Any = getattr(hierarchical, "_handlers", None)
    if isinstance(trie, SharedPrefixTrie):
        return True
    if (
        type(emitter) is not _EventAliaser
        or type(hierarchical) is not _HierarchicalEmitter
        or type(trie) is not _PrefixTrie
        # The state these subclasses know how to copy, and the nodes' layout, exactly.
        or set(vars(trie)) != {"_root"}
        or not isinstance(trie._root, dict)
        or set(trie._root) != {"chunk", "children", "values"}
        or set(vars(emitter)) != {"_event_aliases", "_alias_name_cache", "_emitter"}
    ):
        return False
    shared = SharedPrefixTrie()
    shared._root = trie.__copy__()._root  # botocore's own deep copy: nothing shared yet
    # Subclasses that add no state: the objects stay the ones everything already refers to.
    emitter.__class__ = SharedEventAliaser
    hierarchical.__class__ = SharedHierarchicalEmitter
    hierarchical._handlers = shared
    hierarchical._lookup_cache = {}
    return True
