"""Families' missing-person reports (inquiries), matched against the faces of cases' bodies.

Layer: above ``cases`` (whose tables it reads and whose review policy it follows), below
``notify`` (which writes to an inquirer once a link is confirmed). Records live in
:mod:`nextofkin.cases.inquiry_records`.
"""
