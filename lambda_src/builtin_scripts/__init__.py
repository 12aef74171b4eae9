"""Example scripts shipped with lambdafan; each is a plain script following the contract."""
