"""Desired + observed -> plan -> execute. `plan`, `diff`, `health` and `states` are pure;
`execute` carries a plan out through the runtime client and decides nothing.
"""
