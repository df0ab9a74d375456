"""Batch scoring: reasons, playbook actions, working-day due dates, money at risk."""
