"""Evaluations on real labelled data: worlds built from it and the real stages run against them."""
