"""Users and roles (investigator, reviewer, admin), checked at the service layer.

The CLI acts as the user named by ``--user``/``NEXTOFKIN_USER``; the API will act as the logged-in
user. Both call :func:`nextofkin.users.service.require` before any action, so a permission check
never depends on which front end was used.
"""
