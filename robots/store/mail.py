"""E-mail deliveries and task notifications in the store (owned by the mail/tasks feature)."""
