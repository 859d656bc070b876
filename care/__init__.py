"""The campaign library: definitions (``campaigns/*.yml``), calendar, compliance rules, planning into
the outbox, rendering, reports and customer segmentation.

Pure domain logic on top of ``crm``, used by the care scheduler process, the RM console and the
command line. It sends nothing: delivery is ``outbound``, and the scheduler process claims and sends.
"""
