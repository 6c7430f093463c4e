"""Compliance rules, and the demo business data they check.

A Rule is either a Python check registered in code (compliance.registry,
kind=python: the row holds its enabled flag and area) or a SQL query stored
here (kind=sql) whose returned rows are the violations. SQL rules run
read-only, with bound parameters, a row limit and a statement timeout,
against a Django database alias or an ODBC connection string (encrypted).
"""

from __future__ import annotations

from django.db import models


class RuleKind(models.TextChoices):
    PYTHON = "python", "Python check"
    SQL = "sql", "SQL query"


class RuleQuerySet(models.QuerySet["Rule"]):
    def enabled(self) -> RuleQuerySet:
        return self.filter(enabled=True)


class Rule(models.Model):
    name = models.SlugField(max_length=200, unique=True)
    kind = models.CharField(max_length=8, choices=RuleKind.choices, default=RuleKind.SQL)
    area = models.CharField(max_length=200, db_index=True, help_text="warehouse or other area")
    description = models.TextField(blank=True)
    enabled = models.BooleanField(default=True)
    # SQL rules
    database = models.CharField(max_length=100, blank=True, help_text="Django database alias")
    connection_secret = models.TextField(
        blank=True, default="", help_text="encrypted ODBC connection string"
    )
    query = models.TextField(blank=True)
    params = models.JSONField(default=list, blank=True, help_text="bound parameters (list)")
    row_limit = models.PositiveIntegerField(null=True, blank=True)
    timeout = models.FloatField(null=True, blank=True, help_text="seconds")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RuleQuerySet.as_manager()

    class Meta:
        ordering = ["area", "name"]
        permissions = [("manage_rules", "Can create and edit compliance rules")]

    def __str__(self) -> str:
        return self.name

    @property
    def uses_odbc(self) -> bool:
        return bool(self.connection_secret)


# --- demo business data (loaded by `manage.py compliance demo`) -------------


class ProductType(models.TextChoices):
    MATERIAL = "material"
    PRODUCT = "product"
    SEMI_PRODUCT = "semi_product"


class Warehouse(models.Model):
    """A demo warehouse; each holds one type of item (seed 001's Warehouses)."""

    code = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    accepts = models.CharField(max_length=16, choices=ProductType.choices)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    sku = models.CharField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=16, choices=ProductType.choices)
    unit = models.CharField(max_length=10, default="pcs")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["sku"]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"


class Stock(models.Model):
    warehouse = models.ForeignKey(Warehouse, on_delete=models.CASCADE, related_name="stock")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="stock")
    quantity = models.DecimalField(max_digits=12, decimal_places=3)

    class Meta:
        ordering = ["warehouse", "product"]
        constraints = [
            models.UniqueConstraint(fields=["warehouse", "product"], name="stock_one_row_per_item")
        ]

    def __str__(self) -> str:
        return f"{self.warehouse_id}/{self.product_id}: {self.quantity}"
