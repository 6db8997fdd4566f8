"""Real generations: public model outputs labelled by their sources, scored through the service."""
