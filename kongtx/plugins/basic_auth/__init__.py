"""The ``basic-auth`` plugin: HTTP Basic credentials with bcrypt-hashed passwords."""
