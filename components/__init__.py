"""Reusable NiceGUI widgets: the page frame, status badge, budget bar, project card, dialogs."""
