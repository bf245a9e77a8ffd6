"""Training algorithms: PPO maths and the Lightning module."""
