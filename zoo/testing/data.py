"""The conformance kit's text sets (they live in `zoo.data.docstring_text`; plugins reach them as
`zoo.sdk.labelled_text` and `zoo.sdk.unlabelled_text`)."""

from zoo.data.docstring_text import TOPICS, docstrings, labelled_text, unlabelled_text, write_topics

__all__ = ["TOPICS", "docstrings", "labelled_text", "unlabelled_text", "write_topics"]
