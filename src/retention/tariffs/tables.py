"""The tariff tables, as the tariff plan reads them: they live in retention.data.tariff_tables,
below the simulator, which bills by them (the layers let retention.data import nothing above
it); this module keeps the tariff plan's name for them."""

from retention.data.tariff_tables import PERIODS, TariffTables, load_tariffs

__all__ = ["PERIODS", "TariffTables", "load_tariffs"]
