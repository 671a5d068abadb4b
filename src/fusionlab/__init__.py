"""fusionlab: unified image fusion experiments (IVIF, MIF, MEF, MFF) run from config."""

__version__ = "0.1.0"

TASKS = ("ivif", "mif", "mef", "mff")
