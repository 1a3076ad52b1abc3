"""Provider price sheets: catalog, custom prices and the cost calculator.

Imports nothing of planner or api.
"""
