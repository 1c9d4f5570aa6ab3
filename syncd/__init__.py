"""cloze-syncd: two-way sync between Cloze and an external CRM."""

__version__ = "0.1.0"
