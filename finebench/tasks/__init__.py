"""What a task is: the task YAML schema, the lazy task index, item files, prompts (rendering, option
order, strategies), in-context demonstrations and CLIP prompt templates.

May import: finebench.util, finebench.embeddings, finebench.scoring."""
