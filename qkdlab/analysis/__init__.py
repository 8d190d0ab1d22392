"""Key-rate solvers and the channel simulation that feeds them (issues 5 and 7)."""
