"""Components draw one thing from plain data; they hold no model or page logic."""
