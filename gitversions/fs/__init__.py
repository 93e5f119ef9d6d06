"""The filesystem, safely: atomic writes, descriptor-relative writes, locks."""
