select nme from base
