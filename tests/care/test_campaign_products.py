"""Every campaign that names a product names one the demo bank sells, so its message can fill in name and rate."""

from __future__ import annotations

from care.definitions import read_files
from crm.demo.catalogue import PRODUCTS


def test_every_campaign_product_code_is_in_the_demo_catalogue() -> None:
    catalogue = {row[0] for row in PRODUCTS}
    definitions = read_files()
    assert definitions, "no campaign YAML found"
    codes = {d.code: d.raw.get("product_code") for d in definitions}
    missing = {code: product for code, product in codes.items() if product and product not in catalogue}
    assert missing == {}
