"""The local fleet: moto's server, the camera simulator and N sshd nodes with their agents.

``cctview-fleet dev up|status|down`` (:mod:`cctview_fleet.commands.dev`) renders what the
functions in :mod:`cctview_fleet.devfleet.fleet` return; the tests and ``make demo`` call those
functions directly. One module a job: ``processes`` (start, check and stop by pid), ``state``
(the state file), ``emulator`` (moto), ``simulator`` (cctview-camsim), ``sshd`` (OpenSSH per
node), ``nodes`` (node folders and agents), ``units`` and ``supervisor`` (systemd's stand-in that
runs each agent), ``fleet`` (the order of it all). First-booted Debian nodes (``dev up`` as root):
``debianroot`` (the cached mmdebstrap root), ``noderoots`` (overlays, /proc, /dev, and undoing
them), ``firstboot`` (cloud-init's part and the user data), ``ebsattacher`` (EBS volumes as loop
devices), ``debiannodes`` (their order).
"""
