"""The tariff plan (电价电费方案): the tariff tables as data (tables.py) and an account's bills
recomputed from them, with the alternatives the rules allow and what each would save
(calculator.py)."""
