"""The one exception the client raises for an error answer: the server's problem, parsed."""

from __future__ import annotations

import httpx
from pydantic import ValidationError

from metapaas.client.models import FieldProblem, Problem

_BODY_SHOWN = 200
"""Characters of a non-problem error body kept in ``detail`` (an HTML page from a proxy)."""


class ApiError(Exception):
    """An answer of status 4xx or 5xx, with the server's RFC 9457 problem details.

    ``str(error)`` is one line: the status, then each field at fault and its
    message, or the title and detail when no field is named.
    """

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(self.one_line())

    @property
    def status(self) -> int:
        return self.problem.status

    @property
    def title(self) -> str:
        return self.problem.title

    @property
    def detail(self) -> str:
        return self.problem.detail

    @property
    def errors(self) -> list[FieldProblem]:
        return self.problem.errors

    def one_line(self) -> str:
        if self.errors:
            said = "; ".join(f"{e.field}: {e.message}" for e in self.errors)
        else:
            said = f"{self.title}: {self.detail}" if self.detail else self.title
        return f"{self.status} {said}"

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        """The problem in the answer's body, or one made of its status and text."""
        try:
            return cls(Problem.model_validate_json(response.content))
        except ValidationError:
            text = " ".join(response.text.split())[:_BODY_SHOWN]
            return cls(
                Problem(
                    type="about:blank",
                    title=response.reason_phrase or "error",
                    status=response.status_code,
                    detail=text,
                )
            )
