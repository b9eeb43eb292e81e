"""Singer target that keeps Pinterest Ads customer lists in step with audience membership."""
