"""SMS building blocks: recipient import, numbers and carriers, text encoding,
compliance rules, per-carrier batch files, and the SMS data model.

Pure functions over plain data (plus SQLModel tables in ``models``); this
package imports only the standard library, third-party packages and
``channels`` -- never Flask, ``core`` or the rest of ``scheduler``.
See docs/sms.md.
"""
