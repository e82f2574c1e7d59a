"""Shipping complete periods to S3, verified; receipts, and the retention they allow."""
