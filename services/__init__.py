"""The domain: everything Trainboard does, with no UI. Pages, components and the API call in here."""
