"""Fewer calls into the JVM for the same expressions: the session's class lookups, remembered.

PySpark reaches a JVM function by name on every use: ``F.lit(1)`` asks the JVM which class
``functions`` is, then what ``lit`` is on it, and only then calls it (three round trips over Py4J,
0.1-0.3 ms each); a column named by a string, a ``select`` and every ``F`` function pay the same
two lookups again. A small entity's first staging made 2,500-4,200 round trips, a third of them
lookups.

``remember_lookups`` makes the session's JVM view remember the classes it resolves, and each such
class the static methods and nested classes it resolves: the same names always resolve to the same
things in a running JVM. Fields are still read from the JVM on every access (their values can
change), and an unknown name still fails as before. Calls themselves are unchanged.
"""

from __future__ import annotations

from typing import Any

from py4j.java_gateway import JavaClass, JavaMember, JVMView

__all__ = ["RememberingClass", "RememberingView", "remember_lookups"]


class RememberingClass(JavaClass):
    """A Java class whose static methods and nested classes are looked up once."""

    def __getattr__(self, name: str) -> Any:
        member = super().__getattr__(name)
        if isinstance(member, JavaMember | JavaClass):
            object.__setattr__(self, name, member)  # found by normal attribute lookup from now on
        return member


class RememberingView(JVMView):
    """A JVM view whose classes are looked up once (packages and unknown names as before)."""

    def __getattr__(self, name: str) -> Any:
        found = super().__getattr__(name)
        if type(found) is JavaClass:
            found = RememberingClass(found._fqn, found._gateway_client)
            object.__setattr__(self, name, found)
        return found


def remember_lookups(view: JVMView) -> None:
    """Make ``view`` (a SparkContext's ``_jvm``, shared by everything in the process that calls into
    that JVM) remember what it resolves. Idempotent."""
    if type(view) is JVMView:
        view.__class__ = RememberingView
