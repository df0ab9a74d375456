"""The applicants' room (业扩报装): connection applications, their steps' service clocks in
Chinese working days (clocks.py) and the watch list of steps running, overdue or late at a
date (watch.py)."""
