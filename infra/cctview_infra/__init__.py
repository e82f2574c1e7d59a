"""The cctview-fleet Pulumi program's components: bucket, IAM, network, nodes and the fleet.

``infra/__main__.py`` reads the Pulumi config into :class:`~cctview_infra.settings.FleetSettings`
and declares one :class:`~cctview_infra.fleet.Fleet`; everything here takes typed arguments, so
the components run under Pulumi's unit-test mocks without the Pulumi CLI or AWS.
"""
