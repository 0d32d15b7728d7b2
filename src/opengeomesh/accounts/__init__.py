"""Accounts: local users, groups, personal API tokens and who may do what."""
