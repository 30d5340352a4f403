"""What every part shares: config, the database session, identity and auth.

``core`` imports nothing else of ours.
"""
