"""The demo `make run` loads: three warehouses with products and stock, three
SQL rules in the spirit of seed 001's *InvalidProductsReport, and seeded
violations so a new user sees alerts of each severity appear:
material 3 (medium), product 7 (high), semi-product 12 (critical).

Idempotent: running it again changes nothing (rows are keyed by code/sku/name).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction

from compliance.models import Product, ProductType, Rule, RuleKind, Stock, Warehouse

WAREHOUSES = [
    ("material", "Material warehouse", ProductType.MATERIAL),
    ("product", "Product warehouse", ProductType.PRODUCT),
    ("semi-product", "Semi-product warehouse", ProductType.SEMI_PRODUCT),
]
PREFIX = {ProductType.MATERIAL: "M", ProductType.PRODUCT: "P", ProductType.SEMI_PRODUCT: "S"}
PER_TYPE = 20
# warehouse code → how many wrong items are stored there (the violations).
SEEDED_VIOLATIONS = {"material": 3, "product": 7, "semi-product": 12}

QUERY = """SELECT p.sku, p.name, p.type AS product_type, w.code AS warehouse, s.quantity
FROM compliance_stock s
JOIN compliance_product p ON p.id = s.product_id
JOIN compliance_warehouse w ON w.id = s.warehouse_id
WHERE w.code = %s AND p.type <> w.accepts
ORDER BY p.sku"""


def demo_rules() -> list[dict[str, Any]]:
    return [
        {
            "name": f"{code}-warehouse-invalid-products",
            "area": code,
            "description": f"Only {accepts.label.lower()} items may be stored in the {name.lower()}",
            "query": QUERY,
            "params": [code],
        }
        for code, name, accepts in WAREHOUSES
    ]


@transaction.atomic
def demo_load() -> dict[str, int]:
    """Create what is missing; never duplicates, never overwrites an
    operator's change to a rule (enabled flag, query)."""
    created = {"warehouses": 0, "products": 0, "stock": 0, "rules": 0}
    warehouses = {}
    for code, name, accepts in WAREHOUSES:
        warehouses[code], new = Warehouse.objects.get_or_create(
            code=code, defaults={"name": name, "accepts": accepts}
        )
        created["warehouses"] += new
    products: dict[str, list[Product]] = {}
    for ptype in ProductType:
        products[ptype] = []
        for i in range(1, PER_TYPE + 1):
            sku = f"{PREFIX[ptype]}-{i:03d}"
            product, new = Product.objects.get_or_create(
                sku=sku, defaults={"name": f"{ptype.label} {i}", "type": ptype}
            )
            products[ptype].append(product)
            created["products"] += new
    for code, _name, accepts in WAREHOUSES:
        warehouse = warehouses[code]
        wrong = [p for t, items in products.items() if t != accepts for p in items]
        placed = products[accepts][:10] + wrong[: SEEDED_VIOLATIONS[code]]
        for n, product in enumerate(placed, start=1):
            _, new = Stock.objects.get_or_create(
                warehouse=warehouse, product=product, defaults={"quantity": Decimal(10 * n)}
            )
            created["stock"] += new
    for spec in demo_rules():
        _, new = Rule.objects.get_or_create(
            name=spec["name"],
            defaults={
                **spec,
                "kind": RuleKind.SQL,
                "database": "compliance",  # COMPLIANCE_DATABASE_URL, a read-only role
                # Off until that database is configured: no error alert per run.
                "enabled": "compliance" in settings.COMPLIANCE_SQL_DATABASES,
                "row_limit": 500,
                "timeout": 30,
            },
        )
        created["rules"] += new
    return created
