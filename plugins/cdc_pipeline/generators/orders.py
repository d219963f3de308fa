"""The sales-orders dataset (seed 004): tech-gadget orders that get paid, shipped, delivered or cancelled.

An order item (the table's key is ``orderid``)::

    orderid        S  a UUID
    product_name   S  from the catalogue below
    category       S  the product's category
    quantity       N  whole units, 1..10
    price          N  the unit price, an exact Decimal with 2 decimal places, inside the product's range
    customer_id    S  "C" + 8 digits; about a third of orders come from returning customers
    customer_name  S  Faker
    order_time     S  ISO-8601 UTC, when the order was placed
    status         S  placed -> paid -> shipped -> delivered; placed or paid -> cancelled
    updated_at     S  ISO-8601 UTC, the time of the latest write (the change's event time)

An update moves the order one step along its life (or, while it is only placed, changes the quantity);
delivered and cancelled orders do not change any more. Revenue is ``quantity * price``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from cdc_pipeline.generators.base import Dataset
from cdc_pipeline.generators.params import format_utc, hour_start

STATUSES = ("placed", "paid", "shipped", "delivered", "cancelled")
FINAL_STATUSES = frozenset({"delivered", "cancelled"})
MAX_QUANTITY = 10
CENTS = Decimal("0.01")


@dataclass(frozen=True)
class Product:
    """A catalogue entry; a unit price is drawn from ``[low, high]`` in whole cents."""

    name: str
    category: str
    low: Decimal
    high: Decimal

    def draw_price(self, rng: Any) -> Decimal:
        # Shop prices end in .99, .49 or .00 more often than not.
        dollars = rng.randint(int(self.low), int(self.high) - 1)
        cents = rng.choice((99, 99, 99, 49, 0, rng.randrange(100)))
        price = (Decimal(dollars) + Decimal(cents) / 100).quantize(CENTS)
        return min(max(price, self.low), self.high)


def _p(name: str, category: str, low: str, high: str) -> Product:
    return Product(name, category, Decimal(low), Decimal(high))


CATALOGUE: tuple[Product, ...] = (
    _p("Laptop", "Computers", "499.00", "2499.00"),
    _p("Ultrabook", "Computers", "899.00", "1999.00"),
    _p("Gaming Laptop", "Computers", "999.00", "3299.00"),
    _p("Desktop PC", "Computers", "599.00", "2999.00"),
    _p("Tablet", "Tablets", "129.00", "1199.00"),
    _p("E-Reader", "Tablets", "89.00", "279.00"),
    _p("Smartphone", "Phones", "199.00", "1399.00"),
    _p("Foldable Phone", "Phones", "999.00", "1899.00"),
    _p("Phone Case", "Accessories", "9.00", "59.00"),
    _p("USB-C Charger", "Accessories", "15.00", "79.00"),
    _p("Power Bank", "Accessories", "19.00", "129.00"),
    _p("USB-C Hub", "Accessories", "25.00", "99.00"),
    _p("Wireless Earbuds", "Audio", "29.00", "299.00"),
    _p("Noise-Cancelling Headphones", "Audio", "99.00", "549.00"),
    _p("Bluetooth Speaker", "Audio", "25.00", "399.00"),
    _p("Soundbar", "Audio", "149.00", "899.00"),
    _p("Smartwatch", "Wearables", "149.00", "799.00"),
    _p("Fitness Tracker", "Wearables", "29.00", "199.00"),
    _p("4K Monitor", "Monitors", "249.00", "1299.00"),
    _p("Portable Monitor", "Monitors", "119.00", "399.00"),
    _p("Mechanical Keyboard", "Peripherals", "49.00", "249.00"),
    _p("Wireless Mouse", "Peripherals", "15.00", "149.00"),
    _p("Webcam", "Peripherals", "29.00", "199.00"),
    _p("External SSD", "Storage", "59.00", "399.00"),
    _p("microSD Card", "Storage", "9.00", "89.00"),
    _p("Wi-Fi Router", "Networking", "49.00", "599.00"),
    _p("Mesh Wi-Fi System", "Networking", "149.00", "699.00"),
    _p("Smart Speaker", "Smart Home", "29.00", "249.00"),
    _p("Smart Thermostat", "Smart Home", "99.00", "279.00"),
    _p("Video Doorbell", "Smart Home", "59.00", "249.00"),
    _p("Action Camera", "Cameras", "149.00", "549.00"),
    _p("Mirrorless Camera", "Cameras", "599.00", "2999.00"),
    _p("Drone", "Cameras", "299.00", "1999.00"),
    _p("Game Console", "Gaming", "299.00", "699.00"),
    _p("VR Headset", "Gaming", "299.00", "999.00"),
)
_QUANTITIES = (1, 2, 3, 4, 5)
_QUANTITY_WEIGHTS = (62, 21, 9, 5, 3)
_RETURNING_CUSTOMER = 0.35


class OrderDataset(Dataset):
    """Sales orders of tech gadgets: the `sales_orders` dataset, keyed by ``orderid``."""

    name = "sales_orders"
    key = "orderid"
    noun = "orders"

    def __init__(self) -> None:
        super().__init__()
        self._customers: list[tuple[str, str]] = []
        self._customer_ids: set[str] = set()

    def reset(self, rng: Any, fake: Any) -> None:
        super().reset(rng, fake)
        self._customers = []
        self._customer_ids = set()

    def _customer(self) -> tuple[str, str]:
        if self._customers and self.rng.random() < _RETURNING_CUSTOMER:
            return self._customers[self.rng.randrange(len(self._customers))]
        while True:
            customer_id = f"C{self.rng.randrange(10**8):08d}"
            if customer_id not in self._customer_ids:
                break
        customer = (customer_id, self.fake.name())
        self._customers.append(customer)
        self._customer_ids.add(customer_id)
        return customer

    def new_item(self, at: datetime) -> dict[str, Any]:
        """A placed order; the key is a UUID drawn from the run's random source, so a seed replays it."""
        product = self.rng.choice(CATALOGUE)
        customer_id, customer_name = self._customer()
        stamp = format_utc(at)
        return {
            "orderid": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
            "product_name": product.name,
            "category": product.category,
            "quantity": self.rng.choices(_QUANTITIES, _QUANTITY_WEIGHTS)[0],
            "price": product.draw_price(self.rng),
            "customer_id": customer_id,
            "customer_name": customer_name,
            "order_time": stamp,
            "status": "placed",
            "updated_at": stamp,
        }

    def updated_item(self, item: dict[str, Any], at: datetime) -> dict[str, Any]:
        """One step of the order's life: pay, ship, deliver, cancel, or (still placed) change the quantity."""
        changed = dict(item)
        status = item["status"]
        draw = self.rng.random()
        if status == "placed":
            if draw < 0.25:
                changed["quantity"] = self._other_quantity(item["quantity"])
            elif draw < 0.35:
                changed["status"] = "cancelled"
            else:
                changed["status"] = "paid"
        elif status == "paid":
            changed["status"] = "cancelled" if draw < 0.06 else "shipped"
        elif status == "shipped":
            changed["status"] = "delivered"
        else:
            raise ValueError(f"order {item['orderid']} is {status}: it cannot change")
        changed["updated_at"] = format_utc(at)
        return changed

    def _other_quantity(self, quantity: int) -> int:
        choices = [
            q for q in range(max(1, quantity - 2), min(MAX_QUANTITY, quantity + 3) + 1) if q != quantity
        ]
        return self.rng.choice(choices)

    def can_update(self, item: dict[str, Any]) -> bool:
        return item["status"] not in FINAL_STATUSES

    def hourly_totals(self, items: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Per ``order_time`` hour (``YYYY-MM-DDTHH:00:00.000Z``), over every existing order whatever its
        status: ``orders``, ``units`` (sum of quantity) and ``revenue`` (sum of quantity * price, exact)."""
        totals: dict[str, dict[str, Any]] = {}
        for item in items:
            hour = format_utc(hour_start(datetime.fromisoformat(item["order_time"])))
            bucket = totals.setdefault(hour, {"orders": 0, "units": 0, "revenue": Decimal("0.00")})
            bucket["orders"] += 1
            bucket["units"] += int(item["quantity"])
            bucket["revenue"] += Decimal(item["quantity"]) * item["price"]
        return dict(sorted(totals.items()))
